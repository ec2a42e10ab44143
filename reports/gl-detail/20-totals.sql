-- Debit and credit totals per account and period of the same lines.
-- Reads: accounting_v_gl_journal_e, accounting_v_gl_journal_dist_e. Params: @pcn, @account, @startPeriod, @endPeriod.
select d.account_no, j.period, count(*) as lines, sum(d.debit_cents) / 100.0 as debit, sum(d.credit_cents) / 100.0 as credit
from accounting_v_gl_journal_e j
join accounting_v_gl_journal_dist_e d on d.plexus_customer_no = j.plexus_customer_no and d.journal_link = j.journal_link
where j.plexus_customer_no = @pcn
  and d.account_no like concat(@account, '%')
  and j.period between @startPeriod and @endPeriod
group by d.account_no, j.period
order by d.account_no, j.period
