-- Least privilege in Postgres, applied by the one-shot `db-setup` job as the superuser before
-- the migrations, on every `make up` (idempotent: every statement may run again):
--   :owner    owns the database's schema: the migration job logs in as it (DDL);
--   :app      reads and writes rows, nothing else: no DDL, no superuser, no server files or
--             programs (the pg_*_server_* roles are never granted);
--   :monitor  the exporter's login: pg_monitor, no data;
--   the superuser (POSTGRES_USER) only initialises the database and runs this file.
-- Passwords come from the secret files and are set on every run, so rotating one is a file
-- change and a `make up`. Tables made by an older layout (owned by the superuser) move to
-- :owner, so an existing volume is upgraded with nothing lost.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
\set owner_password `cat /run/secrets/db_owner_password`
\set app_password `cat /run/secrets/db_app_password`
\set monitor_password `cat /run/secrets/db_monitor_password`

SELECT format('CREATE ROLE %I', name)
FROM unnest(ARRAY[:'owner', :'app', :'monitor']) AS name
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) \gexec

ALTER ROLE :"owner" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'owner_password';
ALTER ROLE :"app" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'app_password';
ALTER ROLE :"monitor" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'monitor_password';
GRANT pg_monitor TO :"monitor";

ALTER DATABASE :"db" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app";
GRANT CONNECT ON DATABASE :"db" TO :"monitor";
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";

-- An older layout's tables (and the sequences they own) move to the owner.
SELECT format('ALTER TABLE public.%I OWNER TO %I', tablename, :'owner')
FROM pg_tables WHERE schemaname = 'public' AND tableowner <> :'owner' \gexec

-- Rows only, on the tables there are and on those the migrations will create.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO :"app";
