-- Violations: account and closed period where Plex data source 4814 and the posted balances disagree.
-- Reads: tb_run_pcn, tb_soap_activity, plexus_customer, tb_period, tb_activity. Params: none.
select c.plexus_customer_no as pcn, s.period, s.account_no,
  sum(s.debit_cents) as soap_debit_cents, sum(s.credit_cents) as soap_credit_cents,
  max(coalesce(t.debit_cents, 0)) as sql_debit_cents, max(coalesce(t.credit_cents, 0)) as sql_credit_cents
from tb_soap_activity s
join plexus_customer c on c.name = s.pcn_name
join tb_period p on p.pcn = c.plexus_customer_no and p.period = s.period and p.period_status = 0
left join tb_activity t on t.pcn = c.plexus_customer_no and t.period = s.period and t.account_no = s.account_no
where c.plexus_customer_no in (select pcn from tb_run_pcn)
group by c.plexus_customer_no, s.period, s.account_no
having sum(s.debit_cents) <> max(coalesce(t.debit_cents, 0)) or sum(s.credit_cents) <> max(coalesce(t.credit_cents, 0))
