-- Undoes 0013_wait_samples.up.sql (the partitions go with their table).
DROP TABLE wait_samples;
DELETE FROM partition_policies WHERE parent_table = 'wait_samples';
