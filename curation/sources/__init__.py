"""Document sources: Common Crawl WARC files (web) and Nemotron-Personas-Korea (personas)."""
