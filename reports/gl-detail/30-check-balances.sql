-- Violations: account and closed period whose journal lines do not sum to the posted balance.
-- Reads: accounting_v_gl_journal_e/_dist_e, accounting_v_balance_e, accounting_v_period_e.
-- Params: @pcn, @account, @startPeriod, @endPeriod.
select l.account_no, l.period, l.debit_cents, l.credit_cents, coalesce(b.debit_cents, 0) as posted_debit_cents,
  coalesce(b.credit_cents, 0) as posted_credit_cents
from (
  select d.account_no, j.period, sum(d.debit_cents) as debit_cents, sum(d.credit_cents) as credit_cents
  from accounting_v_gl_journal_e j
  join accounting_v_gl_journal_dist_e d on d.plexus_customer_no = j.plexus_customer_no and d.journal_link = j.journal_link
  where j.plexus_customer_no = @pcn and d.account_no like concat(@account, '%') and j.period between @startPeriod and @endPeriod
  group by d.account_no, j.period
) l
join accounting_v_period_e p on p.plexus_customer_no = @pcn and p.period = l.period and p.period_status = 0
left join accounting_v_balance_e b on b.plexus_customer_no = @pcn and b.account_no = l.account_no and b.period = l.period
where l.debit_cents <> coalesce(b.debit_cents, 0) or l.credit_cents <> coalesce(b.credit_cents, 0)
