"""aiflow's Python SDK: the seed's pipeline DSL, which emits aiflow IR, and the python-engine shim.

* ``aiflow_sdk.dsl`` — ``pipeline``, ``source``, ``sink``, ``resources`` (pure Python);
* ``aiflow_sdk.plugins`` — ``register_source`` / ``register_sink`` / ``register_engine``;
* ``python -m aiflow_sdk build TARGET --out DIR`` — canonical IR JSON, one file per pipeline;
* ``python -m aiflow_sdk.runtime REQUEST.json`` — what the Go runner starts for ``engine="python"``
  (needs pyarrow, and pandas for DataFrame results: ``pip install aiflow-sdk[runtime]``).

Importing the package imports nothing heavy: the runtime module is loaded only when run.
"""

__version__ = "0.1.0"
