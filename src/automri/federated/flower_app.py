"""The in-repo Flower app's components (``[tool.flwr.app.components]`` of ``pyproject.toml``):
``flwr run . CONNECTION --run-config "..."`` runs them with the options of the run config
(:mod:`automri.federated.app_config`), in Flower's simulation runtime or on real SuperNodes."""

from automri.federated.client_app import make_client_app
from automri.federated.server_app import make_server_app

server = make_server_app()
client = make_client_app()
