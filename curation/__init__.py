"""Korean LLM training-data curation: a plain library, usable without Dagster.

Every stage reads and writes Parquet batches that follow `curation.documents`, so it runs the
same from the stage CLI (`python -m curation`), from a Dask worker or from a Dagster asset.
"""
