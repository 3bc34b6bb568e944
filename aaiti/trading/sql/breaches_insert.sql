INSERT INTO risk.breaches BY NAME SELECT * FROM breaches_now
