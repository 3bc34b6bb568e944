SELECT state FROM risk.state WHERE account = $1
