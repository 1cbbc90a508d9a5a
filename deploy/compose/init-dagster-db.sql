-- The Dagster storage database beside the warehouse (database sextant).
CREATE DATABASE dagster;
