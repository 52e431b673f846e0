"""The core both adapters serve: the resource tables and field kinds, the HTTP client and its
transport, the content workflow and the operations on plain values. Nothing here knows which
adapter (the dynamic provider or the ``ims`` plugin) calls it."""
