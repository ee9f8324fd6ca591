"""The booking console: web pages for call handlers (the consumer workflow, step by step), the
provider's diary, and the standard's reporting metrics."""
