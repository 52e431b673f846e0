"""The Python adapter: dynamic providers, the resources and lookups a Python program declares,
and the provider server the CLI starts for them."""
