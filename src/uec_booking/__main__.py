"""`python -m uec_booking` is the `uec-booking` command."""

from uec_booking.cli import main

main()
