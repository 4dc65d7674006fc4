-- The vaccine or prophylaxis (DCC `vp`, value set sct-vaccines-covid-19) of a dose record.
-- Records stored before this column existed carry '' and cannot be signed until resubmitted.
ALTER TABLE dose_records ADD COLUMN prophylaxis TEXT NOT NULL DEFAULT '';
