"""The users of ``bench/load.py``'s load test: annotators who read and save items, reviewers who
claim and decide, readers who list and search.

Runs in its own virtual environment (``bench/.venv-load``, Locust only), so it imports nothing
from the app. Everything it needs (the project, tokens, item ids, words, think time) comes from
the JSON file named by ``STUDIO_LOAD_CONFIG``, which ``load.py`` writes. Every request is kept
(action, time, status) and written, with each acknowledged save's item and version, to the
config's ``samples_path`` when Locust quits: ``load.py`` computes its figures from those and
checks the acknowledged saves against the database.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
import time
from typing import Any

if __name__ == "__main__":  # `make bench` runs every bench/*.py; Locust imports this one
    print(json.dumps({"benchmark": "locustfile", "skipped": "the users of bench/load.py"}))
    sys.exit(0)

from locust import FastHttpUser, between, constant, events, task  # noqa: E402

CONFIG: dict[str, Any] = json.loads(open(os.environ["STUDIO_LOAD_CONFIG"]).read())  # noqa: SIM115
LOW, HIGH = CONFIG["wait_s"]
# The fields a save sends back: the item as read, with the changed output and its version.
DRAFT_FIELDS = CONFIG["draft_fields"]
PROJECT = CONFIG["project_id"]

samples: list[tuple[str, float, int, float]] = []  # (action, ms, status, finished at)
acknowledged: list[tuple[int, int]] = []  # (item id, version) of each 2xx save
counters: dict[str, Any] = {"save_retries": 0, "review_next_empty": 0, "users": {}}
errors: list[str] = []


@events.request.add_listener
def _keep(name, response_time, response=None, exception=None, **_kw) -> None:
    status = getattr(response, "status_code", 0) or 0
    samples.append((name, response_time, status, time.time()))
    if (exception is not None or not 200 <= status < 300) and status != 409 and len(errors) < 20:
        errors.append(f"{name}: {status} {str(exception)[:200] if exception else ''}")


@events.quitting.add_listener
def _write(**_kw) -> None:
    with open(CONFIG["samples_path"], "w") as out:
        json.dump(
            {
                "samples": samples,
                "acknowledged": acknowledged,
                "counters": counters,
                "errors": errors,
            },
            out,
        )


def _wait():
    return constant(0) if HIGH == 0 else between(LOW, HIGH)


class _Base(FastHttpUser):
    abstract = True
    wait_time = _wait()
    # Each class hands out its accounts in turn; one Locust process serves one run.
    _next = itertools.count()
    accounts: list[Any] = []

    def on_start(self) -> None:
        index = next(type(self)._next)
        users = counters["users"]
        users[type(self).__name__] = users.get(type(self).__name__, 0) + 1
        self.account = self.accounts[index % len(self.accounts)]
        self.rng = random.Random(index)
        self.headers = {"Authorization": f"Bearer {self.token}"}

    @property
    def token(self) -> str:
        return self.account["token"]


class Annotator(_Base):
    """Opens one of their items and saves it with the version read; on a 409 (someone saved
    first) re-reads and tries once more."""

    weight = 3
    _next = itertools.count()
    accounts = CONFIG["annotators"]

    @task
    def edit(self) -> None:
        item_id = self.rng.choice(self.account["items"])
        for attempt in range(2):
            item = self._get(item_id)
            if item is None or self._save(item) != 409:
                return
            if attempt == 0:
                counters["save_retries"] += 1

    def _get(self, item_id: int) -> dict | None:
        with self.client.get(
            f"/api/v1/items/{item_id}", name="get", headers=self.headers, catch_response=True
        ) as response:
            return response.json() if response.status_code == 200 else None

    def _save(self, item: dict) -> int:
        body = {field: item[field] for field in DRAFT_FIELDS}
        body["output"] = f"{item['output'].split(' Edit ')[0]} Edit {time.time_ns()}."
        body["version"] = item["version"]
        with self.client.put(
            f"/api/v1/items/{item['id']}",
            json=body,
            name="save",
            headers=self.headers,
            catch_response=True,
        ) as response:
            if response.status_code == 409:
                response.success()  # a conflict, counted apart from errors
            elif 200 <= response.status_code < 300:
                saved = response.json()
                acknowledged.append((saved["id"], saved["version"]))
            return response.status_code


class Reviewer(_Base):
    """Claims the next item of the queue and approves it or asks for changes, on the version
    claimed; a 409 (the author saved meanwhile) is a conflict, not an error."""

    weight = 1
    _next = itertools.count()
    accounts = CONFIG["reviewers"]

    @task
    def review(self) -> None:
        with self.client.post(
            f"/api/v1/projects/{PROJECT}/review/next",
            name="review_next",
            headers=self.headers,
            catch_response=True,
        ) as response:
            item = response.json() if response.status_code == 200 else None
        if item is None:
            if response.status_code == 200:
                counters["review_next_empty"] += 1
            return
        approve = self.rng.random() < 0.7
        body = {
            "decision": "approve" if approve else "request_changes",
            "version": item["version"],
            "reason": None if approve else "unclear_instruction",
        }
        with self.client.post(
            f"/api/v1/items/{item['id']}/review",
            json=body,
            name="review_decide",
            headers=self.headers,
            catch_response=True,
        ) as response:
            if response.status_code == 409:
                response.success()


class Reader(_Base):
    """Lists the first page of the project's items, or searches it for a word."""

    weight = 1
    _next = itertools.count()
    accounts = CONFIG["readers"]

    @task
    def list_items(self) -> None:
        self.client.get(
            f"/api/v1/projects/{PROJECT}/items",
            params={"limit": 50},
            name="list",
            headers=self.headers,
        )

    @task
    def search(self) -> None:
        self.client.get(
            f"/api/v1/projects/{PROJECT}/items",
            params={"limit": 50, "q": self.rng.choice(CONFIG["search_words"])},
            name="search",
            headers=self.headers,
        )
