"""uec-booking: the NHS UEC Appointments booking standard, provider, national services and consumer."""

__version__ = "0.1.0"
