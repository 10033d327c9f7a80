-- The holder's handle on an objection, when the filer gave it (a holder's own code, or the code
-- a venue scanned): the department needs it to find the record it must check or correct. An
-- objection filed by a venue with only a verification id knows the holder by subject hash.
ALTER TABLE objections ADD COLUMN subject TEXT;
