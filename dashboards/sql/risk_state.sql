SELECT account, state, updated_at FROM risk.state ORDER BY account
