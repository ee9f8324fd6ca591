"""Stand-ins for the national services, one module each, speaking the real protocols:
PDS (FHIR), DoS (SOAP), SDS (LDAP), NHS authentication (OAuth2/JWT) and the SSP."""
