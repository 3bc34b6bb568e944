"""The strategy: specs evaluated out of sample net of costs, verdicts, the trial ledger,
promotion. Its decision core, session, broker and costs are ``aaiti.execution``'s."""
