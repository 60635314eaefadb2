"""The API's endpoints, one module per part of the catalog."""
