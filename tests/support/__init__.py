"""The test helpers, in one place (fixtures stay in the conftest.py files):

- `data`: where the shared IMDB file is, small samples of it, CSVs and datasets made of them;
- `port_fakes`: in-memory doubles of the training ports (dataset source, classifier, progress);
- `registry_fakes`: doubles for the registry use cases (scripted classifiers, failing registries);
- `api`: the API tests' small model, containers, doubles and error assertions;
- `asgi_apps`: apps for real uvicorn whose model misbehaves on purpose;
- `processes`: servers and CLIs as subprocesses in this venv's environment;
- `local_http`: free loopback ports and a threaded HTTP server;
- `imdb_server`, `mlflow_stub`: HTTP stand-ins for the IMDB download and an MLflow server;
- `mlflow_servers`: a real `mlflow server` on PostgreSQL.
"""
