}}} {{ %%% moa. ( k( :: -> tensor<<<
 garbage
