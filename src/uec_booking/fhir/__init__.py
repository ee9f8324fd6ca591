"""Shared FHIR STU3 code: the standard's URLs, the error tree, Bundle/OperationOutcome builders.

This is the only package every actor imports; actors never import each other.
"""
