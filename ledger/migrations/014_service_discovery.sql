-- Discovery for stock x402 clients (issue 18): what a provider says about how its service is
-- called, for the `bazaar` extension of its 402 and its listing in GET /discovery/resources.
-- These fields describe a service; they neither route nor price a call, so they stay outside the
-- signed ServiceRegistration message (api/README.md, "Discovery for x402 clients").
ALTER TABLE services
  -- The HTTP method an example call uses; null: undeclared (POST with an example input, else GET).
  ADD COLUMN http_method        text CHECK (http_method IN ('GET', 'HEAD', 'DELETE', 'POST', 'PUT', 'PATCH')),
  -- How a body method's example input is sent; null: json.
  ADD COLUMN body_type          text CHECK (body_type IN ('json', 'form-data', 'text')),
  -- The path under /v1/proxy/<id> that discovery lists as the service's resource.
  ADD COLUMN resource_path      text NOT NULL DEFAULT '/',
  ADD COLUMN input_description  text NOT NULL DEFAULT '',
  ADD COLUMN output_description text NOT NULL DEFAULT '';

-- Paid calls per service, the quality signal discovery shows next to the on-chain reputation:
-- counted from these two partial indexes alone (index-only scans), never from the whole table.
CREATE INDEX charges_service_paid ON charges (service_id) INCLUDE (settlement_batch) WHERE amount > 0;
CREATE INDEX exact_payments_service_settled ON exact_payments (service_id) WHERE status = 'settled';
