-- Registration numbers are unique on their letters and digits only (NL-123 = NL123 = NL.123 =
-- NL/123). Re-key rows written under the earlier, punctuation-sensitive key. Where two rows
-- collide, the blocked one is kept (a rejection must keep blocking), else the oldest.
WITH ranked AS (
    SELECT registration_number,
           row_number() OVER (
               PARTITION BY regexp_replace(registration_number, '[^A-Za-z0-9]', '', 'g')
               ORDER BY (state = 'blocked') DESC, reserved_at) AS rank
      FROM supplier_registration_numbers)
DELETE FROM supplier_registration_numbers s
 USING ranked r
 WHERE s.registration_number = r.registration_number AND r.rank > 1;

UPDATE supplier_registration_numbers
   SET registration_number = regexp_replace(registration_number, '[^A-Za-z0-9]', '', 'g'),
       updated_at = now()
 WHERE registration_number ~ '[^A-Za-z0-9]';
