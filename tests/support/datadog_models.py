"""Loads Datadog dashboard JSON files into Datadog's own API client models (datadog-api-client,
v1 `Dashboard`), as Datadog's API and Terraform provider read them, and prints one JSON line per
file: the number of widgets and the path of every part the models could not parse (an unknown
widget type, a field of the wrong type). Run by tests/dashboards.rs from .test-deps/datadog."""
import json
import sys

from datadog_api_client import Configuration
from datadog_api_client.model_utils import OpenApiModel, UnparsedObject, validate_and_convert_types
from datadog_api_client.v1.model.dashboard import Dashboard


def unparsed(o, path, out):
    if isinstance(o, UnparsedObject):
        out.append(path)
    elif isinstance(o, OpenApiModel):
        if getattr(o, "_unparsed", False):
            out.append(path)
        for k, v in o._data_store.items():
            unparsed(v, f"{path}.{k}", out)
    elif isinstance(o, (list, tuple)):
        for i, v in enumerate(o):
            unparsed(v, f"{path}[{i}]", out)
    elif isinstance(o, dict):
        for k, v in o.items():
            unparsed(v, f"{path}.{k}", out)


for name in sys.argv[1:]:
    with open(name) as f:
        data = json.load(f)
    dash = validate_and_convert_types(data, (Dashboard,), ["dashboard"], True, True, Configuration())
    out = []
    unparsed(dash, "dashboard", out)
    print(json.dumps({"file": name, "widgets": len(dash.widgets), "unparsed": out}))
