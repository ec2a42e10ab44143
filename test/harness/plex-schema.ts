/**
 * The Plex-shaped tables (plex.md 4.1) as the demo generator creates them, for tests that build a
 * small hand-computed ledger of their own. Money has integer-cent columns beside the decimal ones.
 */
export const PLEX_FIXTURE_SCHEMA = `
  create table plexus_customer (plexus_customer_no integer primary key, plexus_customer_code text, name text,
    currency_code text default 'USD', retained_earnings_account_no text);
  create table accounting_v_category_type (category_type text primary key, "in" text);
  create table accounting_v_account_e (plexus_customer_no integer, account_key integer, account_no text, account_name text,
    active integer, category_type text, category_no integer, category_name text, sub_category_no integer,
    sub_category_name text, base_no text, cost_center_no text, location_no text, add_period integer,
    primary key (plexus_customer_no, account_key), unique (plexus_customer_no, account_no));
  create table accounting_v_period_e (plexus_customer_no integer, period_key integer, period integer, period_display text,
    fiscal_year integer, fiscal_order integer, quarter_group integer, begin_date text, end_date text, period_status integer,
    add_date text, updated_date text, primary key (plexus_customer_no, period_key), unique (plexus_customer_no, period));
  create table accounting_v_gl_journal_e (plexus_customer_no integer, journal_link integer, journal_no text, source_type text,
    period integer, post_date text, description text, period_13 integer default 0, period_adjustment integer default 0,
    add_date text, primary key (plexus_customer_no, journal_link));
  create table accounting_v_gl_journal_dist_e (plexus_customer_no integer, journal_link integer, line_item_no integer,
    account_no text, description text, debit numeric, credit numeric, debit_cents integer, credit_cents integer,
    primary key (plexus_customer_no, journal_link, line_item_no));
  create table accounting_v_balance_e (plexus_customer_no integer, account_key integer, account_no text, period integer,
    debit numeric, credit numeric, debit_cents integer, credit_cents integer, add_date text, update_date text,
    primary key (plexus_customer_no, account_key, period));`;
