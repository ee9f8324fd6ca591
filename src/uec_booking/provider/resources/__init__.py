"""One module per FHIR resource type: its search-parameter table and its routes."""
