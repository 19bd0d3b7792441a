# Literal reading, not a row of the paper: the Multi-Query Estimator's score
# Linear reads the self-attention output alone (the default adds it to the
# queries, a residual connection, so that the scores can tell the queries
# apart from the start of training).
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(estimator_residual=False))
