-- Activity of open periods: from the live Plex data source 4814 where the run fetched it (periods in the
-- requested range); open periods before the range come from the journal lines of the warehouse snapshot.
-- Reads: tb_soap_activity, plexus_customer, accounting_v_gl_journal_e/_dist_e, tb_period. Writes: tb_activity.
-- Params: @pcnNo.
insert into tb_activity (pcn, period, account_no, debit_cents, credit_cents, source)
select c.plexus_customer_no, s.period, s.account_no, sum(s.debit_cents), sum(s.credit_cents), 'plex'
from tb_soap_activity s
join plexus_customer c on c.name = s.pcn_name
join tb_period p on p.pcn = c.plexus_customer_no and p.period = s.period and p.period_status = 1
where c.plexus_customer_no = @pcnNo
group by c.plexus_customer_no, s.period, s.account_no
having sum(s.debit_cents) <> 0 or sum(s.credit_cents) <> 0;
insert into tb_activity (pcn, period, account_no, debit_cents, credit_cents, source)
select j.plexus_customer_no, j.period, d.account_no, sum(d.debit_cents), sum(d.credit_cents), 'journal'
from accounting_v_gl_journal_e j
join accounting_v_gl_journal_dist_e d on d.plexus_customer_no = j.plexus_customer_no and d.journal_link = j.journal_link
join tb_period p on p.pcn = j.plexus_customer_no and p.period = j.period and p.period_status = 1
where j.plexus_customer_no = @pcnNo
  and j.period not in (select s.period from tb_soap_activity s join plexus_customer c on c.name = s.pcn_name
                       where c.plexus_customer_no = @pcnNo)
group by j.plexus_customer_no, j.period, d.account_no;
