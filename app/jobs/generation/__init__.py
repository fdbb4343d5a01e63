"""Generation jobs (``app.core.generation``): launched by a project's manager over a filter of
items, run by the trainer workers through the same queue as fine-tunes, writing drafts that
people review. ``launch`` validates and pins the inputs, ``inputs`` serves them to the worker,
``writing`` and ``candidates`` turn what the model wrote into revisions and new drafts."""
