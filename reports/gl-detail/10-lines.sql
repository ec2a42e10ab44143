-- Journal lines of one PCN for accounts starting with @account, in the period range.
-- Reads: accounting_v_gl_journal_e, accounting_v_gl_journal_dist_e, accounting_v_account_e.
-- Params: @pcn, @account, @startPeriod, @endPeriod.
select j.source_type, j.period, substring(j.post_date, 1, 10) as post_date, j.journal_no, d.account_no, a.account_name,
  d.description, d.debit_cents / 100.0 as debit, d.credit_cents / 100.0 as credit
from accounting_v_gl_journal_e j
join accounting_v_gl_journal_dist_e d on d.plexus_customer_no = j.plexus_customer_no and d.journal_link = j.journal_link
join accounting_v_account_e a on a.plexus_customer_no = d.plexus_customer_no and a.account_no = d.account_no
where j.plexus_customer_no = @pcn
  and d.account_no like concat(@account, '%')
  and j.period between @startPeriod and @endPeriod
order by d.account_no, j.period, j.post_date, j.journal_no, d.line_item_no
