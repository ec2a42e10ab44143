-- Activity of closed periods from the posted balances (the SQL/ODBC path: accounting_v_balance_e holds
-- one row per account and closed period with activity).
-- Reads: accounting_v_balance_e, tb_period. Writes: tb_activity. Params: @pcnNo.
delete from tb_activity where pcn = @pcnNo;
insert into tb_activity (pcn, period, account_no, debit_cents, credit_cents, source)
select b.plexus_customer_no, b.period, b.account_no, b.debit_cents, b.credit_cents, 'balance'
from accounting_v_balance_e b
join tb_period p on p.pcn = b.plexus_customer_no and p.period = b.period and p.period_status = 0
where b.plexus_customer_no = @pcnNo;
