INSERT INTO audit.log (logged_at, actor, action, detail) VALUES ($1, $2, $3, $4)
