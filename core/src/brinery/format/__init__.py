"""The brinery stream format: a header, then records of pickle bytes and raw array memory."""
