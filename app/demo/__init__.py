"""Demo data written for this project: users, a bilingual project, its items and the default
tokenizer built from that text (design §2 and §5). See :mod:`app.demo.loader`."""
