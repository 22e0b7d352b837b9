"""Dagster resources: configuration and clients that the assets hand to the library."""

from resources.corpus_store import CorpusStore
from resources.sources import PersonaReleases, WebInbox

__all__ = ["CorpusStore", "PersonaReleases", "WebInbox"]
