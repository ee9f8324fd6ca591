"""The DoS v1.5 SOAP types (spyne models), in the API's own element names and namespace."""

from __future__ import annotations

from spyne import Array, Boolean, ComplexModel, Float, Integer, Unicode

TNS = "https://nww.pathwaysdos.nhs.uk/app/api/webservices"


class ServiceVersion(ComplexModel):
    """The `serviceVersion` SOAP header."""

    __namespace__ = TNS
    __type_name__ = "serviceVersion"
    version = Unicode


class UserInfo(ComplexModel):
    __namespace__ = TNS
    __type_name__ = "userInfo"
    username = Unicode(min_occurs=1, nillable=False)
    password = Unicode(min_occurs=1, nillable=False)


class Case(ComplexModel):
    """The `c` element: a non-identifiable description of the patient's need."""

    __namespace__ = TNS
    __type_name__ = "Case"
    caseRef = Unicode
    caseId = Unicode
    postcode = Unicode(min_occurs=1, nillable=False)
    age = Integer(min_occurs=1, nillable=False)
    ageFormat = Unicode
    disposition = Unicode(min_occurs=1, nillable=False)
    symptomGroup = Integer(min_occurs=1, nillable=False)
    symptomDiscriminatorList = Array(Integer, type_name="symptomDiscriminatorList")
    searchDistance = Integer
    gender = Unicode


class ServiceType(ComplexModel):
    __namespace__ = TNS
    id = Integer
    name = Unicode


class ServiceCareSummaryDestination(ComplexModel):
    __namespace__ = TNS
    id = Integer
    name = Unicode
    odsCode = Unicode
    serviceType = ServiceType
    address = Unicode
    postcode = Unicode
    distance = Float
    requirebooking = Boolean
    capacity = Unicode
    contactDetails = Unicode


class ContactDetail(ComplexModel):
    __namespace__ = TNS
    order = Integer
    type = Unicode
    name = Unicode
    value = Unicode


class Endpoint(ComplexModel):
    __namespace__ = TNS
    __type_name__ = "endpoint"
    endpointOrder = Integer
    transport = Unicode
    format = Unicode
    interaction = Unicode
    businessScenario = Unicode
    address = Unicode
    comment = Unicode
    compression = Unicode


class ServiceDetail(ComplexModel):
    __namespace__ = TNS
    __type_name__ = "service"
    id = Integer
    name = Unicode
    odsCode = Unicode
    contactDetails = Array(
        ContactDetail.customize(type_name="contactDetail"), type_name="contactDetails"
    )
    serviceEndpoints = Array(Endpoint, type_name="serviceEndpoints")
