-- Chart of accounts for one PCN.
-- Reads:  accounting_v_account_e (Plex ODBC view shape)
-- Writes: nothing
-- Params: @pcn (PCN, text or integer), @includeInactive (0/1)
select
  a.account_no,
  a.account_name,
  a.category_type,
  a.category_name,
  a.sub_category_name,
  a.cost_center_no,
  case when a.active = 1 then 'Yes' else 'No' end as active,
  a.add_period
from accounting_v_account_e as a
where a.plexus_customer_no = @pcn
  and (a.active = 1 or @includeInactive = 1)
order by a.account_no
