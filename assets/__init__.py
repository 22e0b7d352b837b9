"""The Dagster asset graph: wiring of the curation library into assets, jobs and partitions."""
