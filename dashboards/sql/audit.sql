SELECT * FROM audit.log ORDER BY logged_at DESC LIMIT 50
