-- Provider earnings read the unsettled charges of one provider.
CREATE INDEX charges_provider_unsettled ON charges (provider) WHERE settlement_batch IS NULL;
