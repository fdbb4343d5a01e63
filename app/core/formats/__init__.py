"""Dataset files in and out: reading containers, recognising schemas, cleaning text, exporting.

The import path is ``readers.iter_records`` (one ``Record`` per line, element or row, with a
numbered error instead of an exception for a bad one), then ``schemas.detect_schema`` on a sample
and ``schemas.convert`` per record, then optionally ``cleaning.clean_content``. The export path
is ``writers.export_row`` per item and ``writers.write`` over the rows (for preference pairs
``pair_writers``; ``pairs`` reads them back). Both stream: memory does not grow with the file.

Nothing is imported here so that ``import app.core.formats`` stays light; import the submodule
you need (``from app.core.formats import readers``). pyarrow loads only when Parquet is used.
"""
