"""The provider system: a FHIR STU3 (CareConnect) API for Slot search and Appointment booking."""
