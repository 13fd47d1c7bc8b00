-- No access before money: one script with the publishable key could hold a store's whole
-- stock in guest carts. A project now keeps its checkout limits (units one buyer may hold
-- per product and in all, open guest carts, guest carts per client address per minute, event
-- streams per session and their idle timeout) as a JSON object; keys left out take the
-- defaults in the core (`tollgate::holds::CheckoutLimits`).
ALTER TABLE projects ADD COLUMN checkout_limits TEXT NOT NULL DEFAULT '{}';

-- Who holds a guest cart: a keyed hash of the project and the client address (never the
-- address itself). NULL for carts opened by the developer's server or a signed-in end user.
ALTER TABLE orders ADD COLUMN client_key TEXT;
CREATE INDEX orders_by_client ON orders (project_id, client_key, status) WHERE client_key IS NOT NULL;
