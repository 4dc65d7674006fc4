-- The lookup portal (POST /api/v1/lookup) finds a person's issued records by the registry's
-- canonical ID number, which verified records carry in `registry_person` (JSON text). The
-- typed `id_number` column cannot serve: it holds the number as the clinic typed it.
CREATE INDEX dose_records_by_registry_id
    ON dose_records (((registry_person::jsonb) ->> 'id'))
    WHERE registry_person IS NOT NULL;
