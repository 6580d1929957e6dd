# rename-manifest-helpers.sed — give the manifest loader's internal helpers (the functions
# reconciler/manifest_int.h declares, global since manifest.c was split) one prefix, mf_, so a
# reader knows where they come from.  Names static to one file keep theirs.  Re-run after a merge
# (idempotent: mf_diag( is not matched again):
#   sed -i -f tests/lib/rename-manifest-helpers.sed reconciler/manifest*.c reconciler/manifest_int.h \
#       docs/architecture.md
# A name is renamed where it is called or declared (NAME followed by '('); named_cmp (passed to
# qsort), check_keys and signal_known (named bare in comments) everywhere as a word.
s/\<as_str(/mf_as_str(/g
s/\<bind_forbidden(/mf_bind_forbidden(/g
s/\<cap_never(/mf_cap_never(/g
s/\<cap_parse(/mf_cap_parse(/g
s/\<check_keys\>/mf_check_keys/g
s/\<clean_abs_path(/mf_clean_abs_path(/g
s/\<count_keys(/mf_count_keys(/g
s/\<cross_check(/mf_cross_check(/g
s/\<diag(/mf_diag(/g
s/\<diag_room(/mf_diag_room(/g
s/\<expand(/mf_expand(/g
s/\<field_effective(/mf_field_effective(/g
s/\<find_net(/mf_find_net(/g
s/\<find_plan(/mf_find_plan(/g
s/\<find_secdecl(/mf_find_secdecl(/g
s/\<find_tmpl(/mf_find_tmpl(/g
s/\<find_xvol(/mf_find_xvol(/g
s/\<get_argv(/mf_get_argv(/g
s/\<get_bool(/mf_get_bool(/g
s/\<get_cidr(/mf_get_cidr(/g
s/\<get_duration(/mf_get_duration(/g
s/\<get_int(/mf_get_int(/g
s/\<get_kvs(/mf_get_kvs(/g
s/\<get_name(/mf_get_name(/g
s/\<get_names(/mf_get_names(/g
s/\<get_size(/mf_get_size(/g
s/\<get_str(/mf_get_str(/g
s/\<get_strings(/mf_get_strings(/g
s/\<has_ctl_or_space(/mf_has_ctl_or_space(/g
s/\<host_subnet_check(/mf_host_subnet_check(/g
s/\<hostpol_holds_root(/mf_hostpol_holds_root(/g
s/\<image_ok(/mf_image_ok(/g
s/\<is_seq(/mf_is_seq(/g
s/\<keep(/mf_keep(/g
s/\<keys_with_fields(/mf_keys_with_fields(/g
s/\<kvs_add(/mf_kvs_add(/g
s/\<load_host_policy(/mf_load_host_policy(/g
s/\<mean(/mf_mean(/g
s/\<model_release(/mf_model_release(/g
s/\<named_cmp\>/mf_named_cmp/g
s/\<net_ids(/mf_net_ids(/g
s/\<parse_cpus(/mf_parse_cpus(/g
s/\<parse_docs(/mf_parse_docs(/g
s/\<parse_fields(/mf_parse_fields(/g
s/\<parse_file(/mf_parse_file(/g
s/\<parse_port(/mf_parse_port(/g
s/\<parse_svc(/mf_parse_svc(/g
s/\<pass3_release(/mf_pass3_release(/g
s/\<path_under(/mf_path_under(/g
s/\<refs_add(/mf_refs_add(/g
s/\<refs_has(/mf_refs_has(/g
s/\<root_state_overlap(/mf_root_state_overlap(/g
s/\<roots_add(/mf_roots_add(/g
s/\<roots_hold(/mf_roots_hold(/g
s/\<roots_listed(/mf_roots_listed(/g
s/\<secret_get(/mf_secret_get(/g
s/\<shown(/mf_shown(/g
s/\<signal_known\>/mf_signal_known/g
s/\<signal_mean(/mf_signal_mean(/g
s/\<signal_ok(/mf_signal_ok(/g
s/\<suggest(/mf_suggest(/g
s/\<tmpl_svc(/mf_tmpl_svc(/g
s/\<valid_name(/mf_valid_name(/g
s/\<ynode_free(/mf_ynode_free(/g
