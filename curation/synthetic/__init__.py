"""Synthetic data through an OpenAI-compatible LLM: Nemotron-CC rephrasing of web documents in
Korean (styles.py, rephrase.py) and persona-grounded question answering (persona_qa.py), with
every output validated (validate.py) and every task accounted for."""
