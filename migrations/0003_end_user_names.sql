-- End users' names, which dream-api's SDK sends when creating a customer.
ALTER TABLE end_users ADD COLUMN first_name TEXT;
ALTER TABLE end_users ADD COLUMN last_name TEXT;
