"""The use cases, grouped by who uses them; `knowledge.exchange.Exchange` fronts them all."""
